import type { Child } from "hono/jsx";

/** A column heading; a `num` column is right-aligned like its figures. */
export type Column = string | { label: string; num: true };

/** A numeric column's heading. */
export const num = (label: string): Column => ({ label, num: true });

/**
 * The console's table: a scrolling `div.table` around column headings and one row per item.
 * With `empty`, an empty list shows that instead of a table with no rows.
 */
export function DataTable<T>(props: {
  headers: readonly Column[];
  rows: readonly T[];
  row: (item: T, index: number) => Child;
  empty?: Child;
  /** `data-*` hooks on the `<table>` itself. */
  data?: Record<`data-${string}`, string>;
}) {
  if (props.rows.length === 0 && props.empty !== undefined) return <>{props.empty}</>;
  return (
    <div class="table">
      <table {...props.data}>
        <thead>
          <tr>
            {props.headers.map((header) =>
              typeof header === "string" ? (
                <th scope="col">{header}</th>
              ) : (
                <th scope="col" class="num">
                  {header.label}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{props.rows.map((item, index) => props.row(item, index))}</tbody>
      </table>
    </div>
  );
}
