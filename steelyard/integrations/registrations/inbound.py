"""What the integration inbound area adds to the shell and to the event bus: nothing of its own.

Its screens belong to the integrations console (systems, batches, imports); the domain events it
publishes (order.created, contract.signed, shipment.shipped, invoice.issued, payment.received,
order.status_changed, customer.created) are declared by the orders and customers modules.
"""
