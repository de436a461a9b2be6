"""`r1track app`: a local web page to track objects in a video (Gradio, the `app` extra).

- `session`: one browser session's work, without Gradio (upload, objects, run, results)
- `ui`: the page around it
"""
