"""Renders a job's results for people: one self-contained HTML file and PNG/SVG plots."""

from genejobs.report.html import render_report

__all__ = ["render_report"]
