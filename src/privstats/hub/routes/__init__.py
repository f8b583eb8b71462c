"""The hub's REST API by concern: registry, jobs, relay and audit (FastAPI routers).

Routes only translate HTTP to the hub's modules and their answers to the models of
``privstats.service.models``; every route declares its answer's model.
"""
