"""What hub, nodes and clients agree on: manifests, signed forms, audit chain."""
