"""The hub: registry of parties and datasets, jobs and approvals, sealed relay, audit log.

``app`` builds the FastAPI application from the routers in ``routes`` (registry, jobs,
relay, audit) over one ``context.HubState``; ``registry``, ``jobs`` and ``mailbox`` hold
what the routes do, ``access`` who may do it, ``views`` what the answers show (the models
of ``privstats.service.models``), ``store`` the SQL tables and ``server`` the start-up.
"""
