"""The live runtime: real inference requests dispatched by an edgesched scheduler to real
model workers, profiled back into the simulator.

- :mod:`~edgesched.live.models`, :mod:`~edgesched.live.onnx_cache`: the model architectures
  (random weights) and their ONNX export cache;
- :mod:`~edgesched.live.worker`: one worker process per machine, ONNX Runtime sessions,
  payloads through shared memory;
- :mod:`~edgesched.live.view`: the scheduler's view of the live devices;
- :mod:`~edgesched.live.runtime`, :mod:`~edgesched.live.app`: the gateway (FastAPI/uvicorn);
- :mod:`~edgesched.live.loadgen`: the open-loop load generator;
- :mod:`~edgesched.live.profiler`: the host profile the simulator loads;
- :mod:`~edgesched.live.livesim`: the sim-to-real report;
- :mod:`~edgesched.live.cli`: the ``serve``, ``profile``, ``loadtest``, ``live-vs-sim``
  subcommands.

The worlds never import this package. ``docs/live.md`` describes the architecture.
"""
