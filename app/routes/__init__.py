"""HTTP routes, a module per audience: supporters (supporter, embed, kiosk, api), staff
(dashboard, steering, staff_admin, second_factor), operators (health) and the files (assets)."""
