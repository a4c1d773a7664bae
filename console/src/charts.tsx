// Hand-drawn SVG charts: no chart dependency, styles from the stylesheet (the CSP allows no
// inline style; SVG presentation attributes are not style and are allowed).
import type { JSX } from "preact";

export interface Series {
  name: string;
  points: { x: number; y: number }[];
  cls: string; // a stylesheet class: c1..c5
}

const W = 560;
const H = 200;
const PAD = { l: 48, r: 24, t: 12, b: 28 };

function ticks(max: number): number[] {
  if (max <= 0) return [0];
  const step = Math.pow(10, Math.floor(Math.log10(max)));
  const n = max / step;
  const unit = n > 5 ? step * 2 : n > 2 ? step : step / 2;
  const out: number[] = [];
  for (let v = 0; v <= max + 1e-9; v += unit) out.push(v);
  return out;
}

function fmt(v: number): string {
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (Math.abs(v) >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

export function LineChart(props: {
  title: string;
  series: Series[];
  xLabel: (x: number) => string;
  yUnit?: string;
  reference?: { y: number; label: string };
}): JSX.Element {
  const all = props.series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  // At least 1 on the axis: an all-zero series (no blocks today) still gets a readable scale.
  const yMax = Math.max(1, ...all.map((p) => p.y), props.reference?.y ?? 0) * 1.1;
  const sx = (x: number) => PAD.l + (x1 === x0 ? (W - PAD.l - PAD.r) / 2 : ((x - x0) / (x1 - x0)) * (W - PAD.l - PAD.r));
  const sy = (y: number) => H - PAD.b - (y / yMax) * (H - PAD.t - PAD.b);
  const labelXs = Array.from(new Set(xs)).sort((a, b) => a - b);
  const every = Math.max(1, Math.ceil(labelXs.length / 6));
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={props.title}
        data-points={all.length}
        preserveAspectRatio="xMidYMid meet"
      >
        <title>{props.title}</title>
        {ticks(yMax / 1.1).map((t) => (
          <g key={t}>
            <line class="grid" x1={PAD.l} x2={W - PAD.r} y1={sy(t)} y2={sy(t)} />
            <text class="axis" x={PAD.l - 6} y={sy(t) + 4} text-anchor="end">
              {fmt(t)}
            </text>
          </g>
        ))}
        {labelXs
          .filter((_, i) => i % every === 0)
          .map((x) => (
            <text key={x} class="axis" x={sx(x)} y={H - 8} text-anchor="middle">
              {props.xLabel(x)}
            </text>
          ))}
        {props.reference && (
          <g>
            <line class="reference" x1={PAD.l} x2={W - PAD.r} y1={sy(props.reference.y)} y2={sy(props.reference.y)} />
            <text class="axis" x={W - PAD.r} y={sy(props.reference.y) - 4} text-anchor="end">
              {props.reference.label}
            </text>
          </g>
        )}
        {props.series.map((s) => (
          <g key={s.name} class={"series " + s.cls}>
            <polyline fill="none" points={s.points.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" ")} />
            {s.points.map((p) => (
              <circle cx={sx(p.x)} cy={sy(p.y)} r="3">
                <title>{`${s.name} ${props.xLabel(p.x)}: ${fmt(p.y)}${props.yUnit ?? ""}`}</title>
              </circle>
            ))}
          </g>
        ))}
      </svg>
      <Legend series={props.series} />
    </figure>
  );
}

export function BarChart(props: { title: string; bars: { label: string; value: number; cls?: string }[] }): JSX.Element {
  const max = Math.max(1, ...props.bars.map((b) => b.value)) * 1.1;
  const n = Math.max(1, props.bars.length);
  const bw = (W - PAD.l - PAD.r) / n;
  const sy = (y: number) => H - PAD.b - (y / max) * (H - PAD.t - PAD.b);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={props.title} data-points={props.bars.length}>
        <title>{props.title}</title>
        {ticks(max / 1.1).map((t) => (
          <g key={t}>
            <line class="grid" x1={PAD.l} x2={W - PAD.r} y1={sy(t)} y2={sy(t)} />
            <text class="axis" x={PAD.l - 6} y={sy(t) + 4} text-anchor="end">
              {fmt(t)}
            </text>
          </g>
        ))}
        {props.bars.map((b, i) => (
          <g key={b.label} class={"series " + (b.cls ?? "c1")}>
            <rect x={PAD.l + i * bw + bw * 0.15} width={bw * 0.7} y={sy(b.value)} height={Math.max(0, H - PAD.b - sy(b.value))}>
              <title>{`${b.label}: ${fmt(b.value)}`}</title>
            </rect>
            <text class="axis" x={PAD.l + i * bw + bw / 2} y={H - 8} text-anchor="middle">
              {b.label}
            </text>
          </g>
        ))}
      </svg>
    </figure>
  );
}

function Legend(props: { series: Series[] }): JSX.Element {
  return (
    <ul class="legend">
      {props.series.map((s) => (
        <li key={s.name} class={s.cls}>
          <span class="swatch" aria-hidden="true" />
          {s.name}
        </li>
      ))}
    </ul>
  );
}
