from typer.testing import CliRunner

from destila.cli import app


def test_help_lists_every_registered_verb():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    names = [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]
    assert names, "no verb registered"
    for name in names:
        assert name in result.output
