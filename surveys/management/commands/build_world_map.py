"""Rebuild surveys/results/data/world-110m.json from world-atlas's countries TopoJSON (see
surveys/results/data/README.md): `npm install world-atlas@2.0.2` in a scratch folder, then
`manage.py build_world_map node_modules/world-atlas/countries-110m.json`."""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys.results.worldmap import WORLD_MAP_FILE, world_map_dumps, world_map_from_topojson


class Command(BaseCommand):
    help = (
        "Convert world-atlas countries-110m.json (TopoJSON, ISO numeric ids) into the projected "
        "SVG outlines by ISO alpha-2 code that the report's world map draws."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="path to countries-110m.json of world-atlas")
        parser.add_argument("--output", default=str(WORLD_MAP_FILE))

    def handle(self, *args: Any, source: str, output: str, **options: Any) -> None:
        try:
            topology = json.loads(Path(source).read_text(encoding="utf-8"))
            data = world_map_from_topojson(topology=topology)
        except (OSError, ValueError, KeyError) as error:
            raise CommandError(f"Cannot convert {source}: {error}") from error
        text = world_map_dumps(data=data)
        Path(output).write_text(text, encoding="utf-8")
        self.stdout.write(
            f"Wrote {len(data['countries'])} countries to {output} "
            f"({len(text.encode()) // 1024} KB)."
        )
