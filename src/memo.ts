/** A remembering function: its answers, and a way to drop one or all of them. */
export type Remembered<T> = ((key: string) => T) & { forget(key: string): void; clear(): void };

/**
 * `compute`, a pure function of a string, remembering its recent answers in this isolate (at most
 * `size`; all are dropped when it is full): for work one request repeats with the same input, such
 * as a phone's keyed hash and its masked form in each of the request's audit events. A rejected
 * promise is forgotten.
 */
export function remembered<T>(compute: (key: string) => T, size = 1024): Remembered<T> {
  const answers = new Map<string, T>();
  const recall = (key: string): T => {
    if (answers.has(key)) return answers.get(key) as T;
    if (answers.size >= size) answers.clear();
    const answer = compute(key);
    answers.set(key, answer);
    // A promise that fails is not kept: the next call computes again.
    if (answer instanceof Promise) answer.catch(() => answers.delete(key));
    return answer;
  };
  return Object.assign(recall, { forget: (key: string) => void answers.delete(key), clear: () => answers.clear() });
}
