"""Images Sentrio can run: building the demo image (importing docker/OCI images comes later)."""
