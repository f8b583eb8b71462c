"""What hub, nodes and clients agree on: manifests, signed forms, audit chain, the hub's
answers as typed models (``models``)."""
