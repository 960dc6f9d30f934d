"""`flask demo seed`: a realistic practice for trying Attune and for load tests."""

import click


@click.group("demo")
def demo_cli():
    """Demo data."""
