"""The app's look: the theme and the page-wide CSS that make it read on a laptop and on a phone.

Gradio 6 takes both at `launch()`, so `app.launch_options()` hands them over, and the tests launch with the same.
"""

from __future__ import annotations

import gradio as gr

CSS = """
.gradio-container { max-width: 1440px !important; }
#app-header h1 { margin: 0 0 4px; font-size: 1.6rem; }
#app-header p { margin: 0; }
#app-status p { margin: 0; font-size: 0.9rem; opacity: 0.85; }
#compare-summary p { margin: 0 0 6px; }
/* a failed action is said once, in its toast: no "Error" badge on each of its outputs */
[data-testid="status-tracker"]:has(> .error) { display: none !important; }
/* phones: side-by-side panels stack, and every tab stays in the bar (narrower tabs instead of a '...' menu) */
@media (max-width: 760px) {
  .stack-narrow { flex-direction: column !important; flex-wrap: nowrap !important; }
  .stack-narrow > * { min-width: 100% !important; max-width: 100% !important; }
  /* gradio sizes the bar from hidden copies of the tab buttons: both must shrink */
  .tab-wrapper button { padding-left: 7px !important; padding-right: 7px !important; font-size: 0.85rem !important; }
  #app-header h1 { font-size: 1.25rem; }
  #app-header p:first-of-type { display: none; }  /* the one-line pitch: the tabs and results say it on a phone */
  #compare-kind .info { display: none; }
}
"""

THEME = gr.themes.Soft()
