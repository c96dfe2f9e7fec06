/**
 * Reports: burndown, cumulative flow, velocity and cycle time from the server's
 * report endpoints when it has them, drawn from whatever series they return;
 * the work-by-status chart comes from the board and is always there.
 */
import { useQuery } from "@tanstack/react-query";
import { useParams } from "react-router-dom";
import { Area, AreaChart, Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { useCapabilities } from "../api/capabilities";
import { api, describe } from "../api/client";
import { useBoard } from "../api/queries";

const REPORTS: { slug: string; title: string; kind: "line" | "area" | "bar" }[] = [
  { slug: "burndown", title: "Burndown", kind: "line" },
  { slug: "cumulative-flow", title: "Cumulative flow", kind: "area" },
  { slug: "velocity", title: "Velocity", kind: "bar" },
  { slug: "cycle-time", title: "Cycle time", kind: "bar" },
];

const COLOURS = ["#5b5bd6", "#2da44e", "#d29922", "#8957e5", "#cf222e", "#1f6feb", "#8a8f98"];

type Row = Record<string, string | number>;
type Series = { rows: Row[]; x: string; ys: string[]; note?: string };

const num = (v: unknown) => (typeof v === "number" ? v : Number(v ?? 0));

/** Each report's JSON (reports/*.py) as chart rows: one x key, numeric series. */
export function seriesOf(slug: string, body: unknown): Series | null {
  const b = (body ?? {}) as Record<string, unknown>;
  const list = (k: string) => (Array.isArray(b[k]) ? (b[k] as Record<string, unknown>[]) : []);
  switch (slug) {
    case "burndown": {
      const rows = list("days").map((d) => ({ date: String(d.date).slice(5), remaining: num(d.remaining_estimate), ideal: num(d.ideal_estimate) }));
      const sprint = b.sprint as { name?: string } | undefined;
      return rows.length ? { rows, x: "date", ys: ["remaining", "ideal"], note: sprint?.name } : null;
    }
    case "cumulative-flow": {
      const statuses = (b.statuses as string[] | undefined) ?? [];
      const rows = list("days").map((d) => {
        const counts = (d.counts ?? {}) as Record<string, number>;
        return { date: String(d.date).slice(5), ...Object.fromEntries(statuses.map((s) => [s, num(counts[s])])) };
      });
      return rows.length && statuses.length ? { rows, x: "date", ys: [...statuses].reverse() } : null;
    }
    case "velocity": {
      const rows = list("sprints").map((s) => ({ sprint: String(s.name), committed: num(s.committed_estimate), completed: num(s.completed_estimate) }));
      return rows.length ? { rows, x: "sprint", ys: ["committed", "completed"] } : null;
    }
    case "cycle-time": {
      const rows = list("tasks").map((t) => ({ task: String(t.key), days: num(t.cycle_time_days) }));
      const p = (b.percentiles_days ?? {}) as Record<string, number | null>;
      const note = Object.entries(p).filter(([, v]) => v != null).map(([k, v]) => `${k}: ${Number(v).toFixed(1)} d`).join(" · ");
      return rows.length ? { rows, x: "task", ys: ["days"], note } : null;
    }
    default:
      return null;
  }
}

function Chart({ kind, data }: { kind: "line" | "area" | "bar"; data: Series }) {
  const common = (
    <>
      <CartesianGrid strokeDasharray="3 3" stroke="var(--line)" />
      <XAxis dataKey={data.x} tick={{ fontSize: 11 }} />
      <YAxis tick={{ fontSize: 11 }} />
      <Tooltip />
      <Legend />
    </>
  );
  return (
    <ResponsiveContainer width="100%" height={240}>
      {kind === "line" ? (
        <LineChart data={data.rows}>{common}{data.ys.map((y, i) => <Line key={y} dataKey={y} stroke={COLOURS[i % COLOURS.length]} dot={false} strokeWidth={2} />)}</LineChart>
      ) : kind === "area" ? (
        <AreaChart data={data.rows}>{common}{data.ys.map((y, i) => <Area key={y} dataKey={y} stackId="1" stroke={COLOURS[i % COLOURS.length]} fill={COLOURS[i % COLOURS.length]} fillOpacity={0.35} />)}</AreaChart>
      ) : (
        <BarChart data={data.rows}>{common}{data.ys.map((y, i) => <Bar key={y} dataKey={y} fill={COLOURS[i % COLOURS.length]} radius={[3, 3, 0, 0]} />)}</BarChart>
      )}
    </ResponsiveContainer>
  );
}

function ReportCard({ projectId, slug, title, kind, available }: { projectId: string; slug: string; title: string; kind: "line" | "area" | "bar"; available: boolean }) {
  const report = useQuery({
    queryKey: ["report", projectId, slug],
    enabled: available,
    queryFn: () => api<unknown>(`/api/v1/projects/${projectId}/reports/${slug}`),
  });
  const data = report.data ? seriesOf(slug, report.data) : null;
  return (
    <section className="report-card" aria-label={title}>
      <h2>{title}</h2>
      {!available && <p className="muted">This server does not offer this report yet.</p>}
      {report.error && <p className="muted">{describe(report.error)}</p>}
      {available && report.isSuccess && !data && <p className="muted">Not enough data yet.</p>}
      {data?.note && <p className="muted small">{data.note}</p>}
      {data && <Chart kind={kind} data={data} />}
    </section>
  );
}

export function ReportsScreen() {
  const { projectId = "" } = useParams();
  const caps = useCapabilities();
  const board = useBoard(projectId);
  const byStatus = (board.data?.columns ?? []).map((c) => ({ status: c.status.name, tasks: c.count }));
  const has = (slug: string) => {
    const paths = caps.data?.paths ?? [];
    return paths.some((p) => p.startsWith("/api/v1/projects/{project_id}/reports/") && p.includes(slug));
  };
  return (
    <div className="page">
      <div className="page-head">
        <h1>Reports</h1>
      </div>
      <div className="report-grid">
        <section className="report-card" aria-label="Work by status">
          <h2>Work by status</h2>
          <ResponsiveContainer width="100%" height={240}>
            <BarChart data={byStatus}>
              <CartesianGrid strokeDasharray="3 3" stroke="var(--line)" />
              <XAxis dataKey="status" tick={{ fontSize: 11 }} />
              <YAxis allowDecimals={false} tick={{ fontSize: 11 }} />
              <Tooltip />
              <Bar dataKey="tasks" fill="#5b5bd6" radius={[3, 3, 0, 0]} />
            </BarChart>
          </ResponsiveContainer>
        </section>
        {REPORTS.map((r) => (
          <ReportCard key={r.slug} projectId={projectId} {...r} available={has(r.slug)} />
        ))}
      </div>
    </div>
  );
}
