from steelyard.core.models.approvals import (
    ApprovalDecision,
    ApprovalEvent,
    ApprovalRequest,
    ApprovalRoute,
    ApprovalStatus,
    ApprovalStep,
)
from steelyard.core.models.audit import AuditAction, AuditLog
from steelyard.core.models.collaboration import Attachment, Comment
from steelyard.core.models.jobs import Job, JobStatus
from steelyard.core.models.notifications import Notification
from steelyard.core.models.tokens import ApiToken

__all__ = [
    "ApiToken",
    "ApprovalDecision",
    "ApprovalEvent",
    "ApprovalRequest",
    "ApprovalRoute",
    "ApprovalStatus",
    "ApprovalStep",
    "Attachment",
    "AuditAction",
    "AuditLog",
    "Comment",
    "Job",
    "JobStatus",
    "Notification",
]
