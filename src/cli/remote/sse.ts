/**
 * A reader of Server-Sent Events (WHATWG HTML §9.2.6, "Interpreting an event stream"): lines end
 * in CRLF, LF or CR; `event:`, `data:` (joined with LF), `id:` and `retry:` fields; a line
 * starting with `:` is a comment; an empty line dispatches the event. Only what the job stream
 * (GET /api/v1/jobs/{id}/events, src/web/api/jobs.ts) needs: no reconnection here (the caller
 * reconnects with Last-Event-ID).
 */

/** One dispatched event. */
export interface SseEvent {
  /** `event:` field; `message` when absent (§9.2.6). */
  event: string;
  /** The `data:` lines joined with LF. */
  data: string;
  /** The last event ID seen so far in the stream (`id:`), or '' when none. */
  id: string;
  /** `retry:` in ms when the stream set one, else undefined. */
  retry?: number;
}

/**
 * The events of an `text/event-stream` body, in order; ends when the body ends (an incomplete
 * last event is dropped, as §9.2.6 requires).
 */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder('utf-8');
  let buf = '';
  let first = true;
  let event = '';
  let data: string[] = [];
  let id = '';
  let retry: number | undefined;
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    if (first && buf.length > 0) {
      if (buf.charCodeAt(0) === 0xfeff) buf = buf.slice(1); // a leading BOM is ignored
      first = false;
    }
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buf);
      // A CR at the very end may be the first half of CRLF: wait for more.
      if (!m || (m[0] === '\r' && m.index === buf.length - 1)) break;
      const line = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      if (line === '') {
        if (data.length > 0)
          yield { event: event || 'message', data: data.join('\n'), id, ...(retry ? { retry } : {}) };
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\0')) id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
    }
  }
}
