"""The hub: registry of parties and datasets, jobs and approvals, sealed relay, audit log."""
