#!/usr/bin/env python3
"""Summarises every module's surefire XML reports as one HTML page (tests, failures, time per class)."""
import glob
import html
import xml.etree.ElementTree as ET

rows = []
totals = [0, 0, 0, 0]
for path in sorted(glob.glob("*/target/surefire-reports/TEST-*.xml")):
    suite = ET.parse(path).getroot()
    module = path.split("/")[0]
    t, f, e, s = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
    totals = [a + b for a, b in zip(totals, (t, f, e, s))]
    rows.append(f"<tr><td>{html.escape(module)}</td><td>{html.escape(suite.get('name', ''))}</td>"
                f"<td>{t}</td><td>{f}</td><td>{e}</td><td>{s}</td><td>{float(suite.get('time', 0)):.1f}</td></tr>")
print("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Portcullis test report</title>"
      "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:left}"
      "tr:nth-child(even){background:#f4f4f4}</style></head><body>")
if not rows:
    print("<h1>Test report</h1><p>No test ran in this build (<code>site/build.sh --no-coverage</code> skips "
          "them); run <code>site/build.sh</code> for the report. <a href='index.html'>Back to the site</a>.</p>")
else:
    print(f"<h1>Test report</h1><p>{totals[0]} tests, {totals[1]} failures, {totals[2]} errors, {totals[3]} skipped, "
          "from the last <code>mvn verify</code>. <a href='index.html'>Back to the site</a>.</p>")
print("<table><tr><th>module</th><th>class</th><th>tests</th><th>failures</th><th>errors</th><th>skipped</th>"
      "<th>seconds</th></tr>")
print("\n".join(rows))
print("</table></body></html>")
