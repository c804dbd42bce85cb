"""Kubernetes at the edge: the lease that makes one writer among replicas, and the state they share (the only package that imports ``kubernetes``)."""
