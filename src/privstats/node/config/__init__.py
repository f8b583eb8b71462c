"""A node's configuration file: who the node is, its hub, the datasets it offers, its policy.

The data owner writes one TOML file (or lets :func:`write_config` start it) and the node
reads it once at start-up::

    [node]
    name = "register"                 # party name, as enrolled at the hub
    hub = "https://hub.example.org"   # hub base URL (http:// only to this machine,
                                      # or with insecure = true)
    keys = "keys"                     # folder with signing.key and box.key

    [datasets.population]             # one table per dataset; name = [a-z0-9_-]+
    path = "register.csv"             # format inferred from .csv(.gz) .tsv(.gz) .txt
                                      # .parquet .pq (privstats.data.inspect), .json
    key_columns = ["person_id"]       # needed where coverage or join_aggregate is allowed
    columns = ["person_id", "region"] # leave out for all columns of the file
    max_epsilon = 0.5                 # optional: replaces [policy] max_epsilon here

    [datasets.activity-model]         # a model written by `privstats run fl-train`
    path = "activity-model.json"      # (format "model"): its columns are its features

    [policy]
    approval = "auto"                 # "auto" | "ask"
    min_cell = 10                     # smallest group a release may show (was min_domain)
    max_epsilon = 1.0                 # most ε one job may spend (optional; max_delta too)
    recipients = ["analyst"]          # leave out for any recipient

    [[policy.allow]]
    kind = "coverage"
    datasets = ["population"]

Relative paths are taken from the config file's folder. Every mistake is a
:class:`~privstats.errors.ParameterError` naming the file and the key, such as
``node.toml: [policy] approval must be "auto" or "ask", got "yes"``.

The package has one module per concern: :mod:`.schema` (the models and
:func:`load_config`), :mod:`.messages` (validation errors as sentences) and :mod:`.render`
(:func:`write_config`). :mod:`privstats.node.policy` applies the policy to a job's manifest.
"""

from privstats.node.config.render import write_config
from privstats.node.config.schema import (
    FORMAT_SUFFIXES,
    JOB_ID,
    KEYED_KINDS,
    AllowRule,
    DatasetConfig,
    DatasetSchema,
    Format,
    NodeConfig,
    PolicyConfig,
    check_job_id,
    format_of,
    load_config,
    parse_config,
)

__all__ = [
    "FORMAT_SUFFIXES",
    "JOB_ID",
    "KEYED_KINDS",
    "AllowRule",
    "DatasetConfig",
    "DatasetSchema",
    "Format",
    "NodeConfig",
    "PolicyConfig",
    "check_job_id",
    "format_of",
    "load_config",
    "parse_config",
    "write_config",
]
