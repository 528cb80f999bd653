/**
 * The report's two charts, drawn by Apache ECharts on the server as SVG strings (no browser,
 * no script in the page): each bucket's encrypted and plaintext share, and the objects by
 * algorithm and key. ECharts escapes the text it puts in the SVG; only the chart types used
 * are registered, to keep the CLI bundle small.
 */
import { BarChart, PieChart } from 'echarts/charts';
import { AriaComponent, GridComponent, LegendComponent, TitleComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { SVGRenderer } from 'echarts/renderers';
import { encryptionLabel } from './format';
import type { PostureReport } from './schema';
import { sortEncryption } from './tally';

echarts.use([BarChart, PieChart, AriaComponent, GridComponent, LegendComponent, TitleComponent, SVGRenderer]);

const WIDTH = 880;
export const SHARE_SERIES = ['encrypted', 'plaintext', 'unknown'] as const;
const COLOURS = { encrypted: '#2e7d32', plaintext: '#c62828', unknown: '#9e9e9e' };

function render(option: echarts.EChartsCoreOption, height: number): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height });
  try {
    chart.setOption({ animation: false, aria: { enabled: true }, textStyle: { fontFamily: 'system-ui, sans-serif' }, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

/** Horizontal 100% bars: per bucket, the share of its objects encrypted, plaintext, and of unknown encryption. */
export function shareChart(r: PostureReport): string {
  const buckets = [...r.buckets].reverse(); // ECharts draws the first category at the bottom
  const shares = buckets.map((b) => {
    const data = b.objects.byEncryption.reduce((a, e) => a + e.objects, 0);
    const plaintext = b.objects.plaintext;
    const unknown = b.objects.byEncryption.filter((e) => e.encryption === 'unknown').reduce((a, e) => a + e.objects, 0);
    const encrypted = Math.max(0, data - plaintext - unknown);
    const whole = Math.max(1, encrypted + plaintext + unknown);
    return { encrypted: (100 * encrypted) / whole, plaintext: (100 * plaintext) / whole, unknown: (100 * unknown) / whole };
  });
  // Room for the longest bucket name (63 characters at most), at about 7 px a character.
  const labelWidth = Math.min(300, 12 + 7 * Math.max(4, ...buckets.map((b) => b.name.length)));
  return render(
    {
      title: { text: 'Objects by encryption, per bucket (%)', left: 'center', textStyle: { fontSize: 14 } },
      legend: { top: 28, data: [...SHARE_SERIES] },
      grid: { left: labelWidth + 8, right: 24, top: 64, bottom: 28 },
      xAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value}%' } },
      yAxis: { type: 'category', data: buckets.map((b) => b.name), axisLabel: { width: labelWidth, overflow: 'truncate' } },
      series: SHARE_SERIES.map((name) => ({
        name,
        type: 'bar',
        stack: 'share',
        barMaxWidth: 22,
        itemStyle: { color: COLOURS[name] },
        data: shares.map((s) => Math.round(s[name] * 10) / 10),
      })),
    },
    96 + 30 * Math.max(1, buckets.length),
  );
}

/** A ring of every object by algorithm and KMS key, over all buckets. */
export function algorithmChart(r: PostureReport): string {
  const totals = new Map<string, number>();
  const rows = sortEncryption(r.buckets.flatMap((b) => b.objects.byEncryption));
  for (const e of rows) totals.set(encryptionLabel(e), (totals.get(encryptionLabel(e)) ?? 0) + e.objects);
  const plaintextLabel = encryptionLabel({ encryption: 'none' });
  const unknownLabel = encryptionLabel({ encryption: 'unknown' });
  const data = [...totals]
    .filter(([, n]) => n > 0)
    .map(([name, value]) => ({
      name,
      value,
      // Plaintext and unknown keep the colours of the share chart; algorithms and keys take the palette's.
      ...(name === plaintextLabel ? { itemStyle: { color: COLOURS.plaintext } } : name === unknownLabel ? { itemStyle: { color: COLOURS.unknown } } : {}),
    }));
  return render(
    {
      title: { text: 'Objects by algorithm and key, all buckets', left: 'center', textStyle: { fontSize: 14 } },
      legend: { type: 'plain', orient: 'vertical', left: 16, top: 48 },
      series: [
        {
          name: 'objects',
          type: 'pie',
          radius: ['35%', '65%'],
          center: ['68%', '55%'],
          label: { formatter: '{b}: {c}' },
          data,
        },
      ],
    },
    360,
  );
}
