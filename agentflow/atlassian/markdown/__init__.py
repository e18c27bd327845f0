"""Markdown for the model, from and to Atlassian's rich-text formats: ADF (Cloud), storage XHTML
(Confluence) and wiki markup (Data Center). `atlassian.convert` is the face the rest of the server uses."""
