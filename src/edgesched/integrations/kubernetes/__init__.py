"""A Kubernetes operator that places ML tasks on edge clusters with any placement scheduler.

- :mod:`.model`: the ``EdgeTask`` custom resource, labels, reading API objects;
- :mod:`.mirror`: the API's state as the placement world's, and a timestep's decision rounds;
- :mod:`.journal`: what the operator keeps in the API to survive a crash;
- :mod:`.api`: the calls, over the official client, with retries and client-side filtering;
- :mod:`.operator`: the round loop, with kopf beside it (finalizers, deletions);
- :mod:`.kubelet`: simulated time's stand-in for the kubelets;
- :mod:`.submit`: a trace as EdgeTasks, and the JCT report;
- :mod:`.cli`: ``edgesched k8s operator|submit|report``;
- :mod:`.testing`: an in-process API server (kmock) for tests and benchmarks.

See docs/kubernetes.md. Importing this package imports neither kopf nor the client.
"""
