"""image-search-emulator: local stand-ins for the Yandex and Doofinder image-search APIs."""

__version__ = "0.1.0"
