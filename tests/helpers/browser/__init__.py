"""Browser test harness: a private JupyterLab server driven by Playwright + Debian chromium.

* :mod:`browser.lab` starts JupyterLab (own config/runtime/data dirs, a kernelspec pinned to
  this interpreter, random token, 127.0.0.1, free port) and stops it by PID;
* :mod:`browser.labpage` drives the Lab UI (open a notebook, wait for the kernel, Run All);
* :mod:`browser.notebook` writes output-free notebooks;
* :mod:`browser.bigimage` pushes a single-layer 256 MiB image and provides a throttled proxy;
* :mod:`browser.fixtures` holds the pytest fixtures (import them into a test module).

Under ``CI=true`` a missing chromium, playwright or jupyterlab is an error; locally it is a skip.
"""
