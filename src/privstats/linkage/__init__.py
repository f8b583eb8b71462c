"""Record linkage without a common identifier."""
