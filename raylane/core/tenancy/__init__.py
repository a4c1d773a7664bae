"""Organizations (tenants), users and their memberships."""
