// ECharts, only the parts the overview draws, on canvas. Tooltips are drawn on the canvas too
// (renderMode 'richText'): ECharts' HTML tooltips put `style` attributes into innerHTML, which
// the CSP (`default-src 'self'`) refuses, and would carry data as HTML.

import * as echarts from 'echarts/core';
import { BarChart, HeatmapChart, LineChart, ScatterChart } from 'echarts/charts';
import { GeoComponent, GridComponent, LegendComponent, TooltipComponent, VisualMapComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { feature } from 'topojson-client';
import type { Topology, GeometryCollection } from 'topojson-specification';
import land from 'world-atlas/land-110m.json';

echarts.use([BarChart, HeatmapChart, LineChart, ScatterChart, GeoComponent, GridComponent, LegendComponent,
  TooltipComponent, VisualMapComponent, CanvasRenderer]);

export type Chart = echarts.ECharts;
export type Option = echarts.EChartsCoreOption;

export const SEVERITY_COLORS: Record<string, string> = {
  critical: '#8b1a1a',
  high: '#d93025',
  medium: '#e8830c',
  low: '#1f6fd1',
  informational: '#8a9099',
};

export const WORLD = 'world-land';
let registered = false;

type Ring = number[][];

/** A ring that crosses the antimeridian (Chukotka, Fiji), its far-east part moved east of 180°
 * (a flat map would draw a line across the world); the map's bounding box crops at ±180°. Only
 * points near the antimeridian move: Afro-Eurasia is one ring that also reaches west of 0°. */
function unwrap(ring: Ring): Ring {
  const crosses = ring.some((p, i) => i > 0 && Math.abs(p[0] - ring[i - 1][0]) > 180);
  return crosses ? ring.map(([lon, lat]) => [lon < -120 ? lon + 360 : lon, lat]) : ring;
}

/**
 * The land of the world (Natural Earth 1:110m via world-atlas), outlines only: no borders
 * (a base map with national borders shown in China needs an approved map; points on land
 * outlines need none). Antarctica is left out: no attack comes from there, and it would take a
 * fifth of the height.
 */
function registerWorld(): void {
  if (registered) return;
  const topo = land as unknown as Topology<{ land: GeometryCollection }>;
  const geo = feature(topo, topo.objects.land);
  const polygons: Ring[][] = [];
  for (const f of 'features' in geo ? geo.features : [geo]) {
    const g = f.geometry;
    if (g.type === 'Polygon') polygons.push(g.coordinates);
    else if (g.type === 'MultiPolygon') polygons.push(...g.coordinates);
  }
  const kept = polygons.filter((rings) => Math.max(...rings[0].map((p) => p[1])) > -60).map((rings) => rings.map(unwrap));
  echarts.registerMap(WORLD, {
    type: 'FeatureCollection',
    features: kept.map((coordinates, i) => ({ type: 'Feature', properties: { name: `land-${i}` }, geometry: { type: 'Polygon', coordinates } })),
  } as never);
  registered = true;
}

/** The part of the world the map shows (lon, lat): no Antarctica, cropped at the antimeridian. */
export const WORLD_BOUNDS = [[-180, 84], [180, -58]];

export function makeChart(el: HTMLElement, lang: string): Chart {
  registerWorld();
  return echarts.init(el, null, { renderer: 'canvas', locale: lang === 'en' ? 'EN' : 'ZH' });
}

export const BASE_TEXT = { fontFamily: 'inherit', fontSize: 12, color: '#3c4350' };

/** Options every chart shares. */
export function base(): Option {
  return {
    animation: false,
    textStyle: BASE_TEXT,
    tooltip: { renderMode: 'richText', confine: true, backgroundColor: '#ffffff', borderColor: '#c9ced6', textStyle: { color: '#1d2330', fontSize: 12 } },
  };
}
