"""What the tests share: a running emulator, raw sockets, images, and each vendor's calls.

``pythonpath = ["tests"]`` (pyproject) makes this package importable from every test folder:
``from support.server import FIXTURES, start``.
"""
