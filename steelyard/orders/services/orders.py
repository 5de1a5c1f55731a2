"""Order-to-cash writes made by people in the CRM."""
