"""The command line, the chat demo, exports, publishing, the quickstart."""
