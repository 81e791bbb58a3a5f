"""The web front end: the Gradio chat pages, the widget for other sites and the HTTP API,
served by one FastAPI app.

This is the only package that imports gradio or fastapi.
"""

import os

# Gradio reads this when it is imported and when a Blocks is built; set it before either, so a
# clinic's server never sends usage data anywhere.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
