"""Stage 4, report: pages a manager reads with the code hidden.

In: ``summary.json`` and the stage files of each date and region. Out: the daily report's sections (rendered by
``04_report``), the roll-up of a whole run, chargeback, the index page and the ipywidgets explorer. Everything that
came from data is escaped, and redacted when ``redact`` is on.
"""
