"""The Gemini Files API, served by the gateway itself: Cloud Code Assist has none, but it takes `inlineData`.

Uploads are kept on disk (store.py), received by Google's resumable and multipart protocols (uploads.py,
views.py), and a `fileData` part naming one becomes `inlineData` on its way upstream (inline.py).
"""
