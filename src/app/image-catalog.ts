/**
 * Images on every server (issue 18, item 5): each server serves images from its own images
 * directory; the image catalog in the (shared) store says which images the site has and what
 * their files are. This service, at start and every minute:
 *
 * 1. publishes every valid local image into the catalog (first server wins a name; a local image
 *    whose files differ from the catalog's under the same name is a conflict — names are
 *    versions, so two servers would hand hosts different files under one name);
 * 2. finds the catalog images this server lacks (`missing`) or holds with other files
 *    (`conflict`), and which of them a host or cluster is pinned to.
 *
 * A pinned image this server cannot serve makes `/readyz` answer 503 (a load balancer or nginx
 * upstream check then sends hosts elsewhere), is logged once per change, and is counted in
 * `statelesx_images_unavailable{image,reason,pinned}`. The boot policy already boots a host whose
 * pinned image is absent from local disk rather than serving another image (src/hosts/policy.ts).
 * `statelesx image sync --from URL` fills a new server.
 */
import { hostname } from 'node:os';
import type { Logger } from '../log.js';
import type { Service } from '../net/service.js';
import type { ImageCatalog } from '../store/index.js';
import type { ImageLibrary } from '../images/image.js';
import { imageBytes, imageFingerprint } from '../images/fingerprint.js';
import { gauge } from '../metrics.js';

/** Why a catalog image cannot be served here. */
export type UnavailableReason = 'missing' | 'conflict';

/** One image of the catalog this server cannot serve. */
export interface UnavailableImage {
  image: string;
  reason: UnavailableReason;
  /** Who is pinned to it (`host <uuid>`, `cluster <name>`); empty: nobody. */
  pinnedBy: string[];
}

/** The result of one pass. */
export interface CatalogState {
  /** Local images published by this pass. */
  published: string[];
  unavailable: UnavailableImage[];
  /** When the pass ran, epoch ms. */
  at: number;
}

/** A running catalog service. */
export interface ImageCatalogService extends Service {
  /** Runs one pass now. */
  runOnce(): Promise<CatalogState>;
  /** The last pass's result (undefined before the first). */
  state(): CatalogState | undefined;
  /** `/readyz`'s `images` check: `ok`, or which pinned images cannot be served and why. */
  readiness(): string;
}

let current: Array<() => CatalogState | undefined> = [];
gauge(
  'images_unavailable',
  'Images of the shared catalog this server cannot serve (1 each), by reason (missing, conflict) and whether a host or cluster is pinned to them',
  ['image', 'reason', 'pinned'],
  function () {
    this.reset();
    for (const s of current) {
      for (const u of s()?.unavailable ?? [])
        this.set({ image: u.image, reason: u.reason, pinned: String(u.pinnedBy.length > 0) }, 1);
    }
  },
);

/**
 * One pass: publishes the local images, then lists the catalog images this server cannot serve.
 * @throws the store's or the images directory's error
 */
export async function catalogPass(
  catalog: ImageCatalog,
  library: ImageLibrary,
  pins: (image: string) => string[] | Promise<string[]>,
  server: string,
  now: number,
): Promise<CatalogState> {
  const { images } = await library.list();
  // Each local image's fingerprint, computed once per pass.
  const local = new Map(images.map((m) => [m.name, imageFingerprint(m)]));
  let entries = await catalog.list();
  const known = new Set(entries.map((e) => e.name));
  // Only names the catalog lacks are published (a name it has is compared below, not re-sent).
  const published: string[] = [];
  const fresh = images.filter((m) => !known.has(m.name));
  for (const m of fresh) {
    const r = await catalog.publish({
      name: m.name,
      kind: m.kind,
      manifest: JSON.stringify(m),
      manifestSha256: local.get(m.name)!,
      totalBytes: imageBytes(m),
      publishedAt: now,
      publishedBy: server,
    });
    if (r === 'added') published.push(m.name);
  }
  if (fresh.length > 0) entries = await catalog.list();
  const unavailable: UnavailableImage[] = [];
  for (const e of entries) {
    const mine = local.get(e.name);
    const reason: UnavailableReason | undefined =
      mine === undefined ? 'missing' : mine !== e.manifestSha256 ? 'conflict' : undefined;
    if (reason) unavailable.push({ image: e.name, reason, pinnedBy: await pins(e.name) });
  }
  return { published, unavailable, at: now };
}

/**
 * @param catalog `store.imageCatalog`
 * @param library the images directory
 * @param pins who is pinned to an image (hosts, clusters), as for image removal
 * @param intervalMs time between passes (default one minute)
 */
export function createImageCatalogService(
  catalog: ImageCatalog,
  library: ImageLibrary,
  pins: (image: string) => string[] | Promise<string[]>,
  log: Logger,
  intervalMs = 60_000,
): ImageCatalogService {
  const clog = log.child({ subsystem: 'image-catalog' });
  const server = hostname();
  let last: CatalogState | undefined;
  let reported = '';
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<CatalogState> | undefined;

  const runOnce = async (): Promise<CatalogState> => {
    last = await catalogPass(catalog, library, pins, server, Date.now());
    const { published, unavailable } = last;
    if (published.length) clog.info({ images: published }, 'images published to the catalog');
    const summary = JSON.stringify(unavailable);
    if (summary !== reported) {
      reported = summary;
      for (const u of unavailable)
        clog[u.pinnedBy.length ? 'error' : 'warn'](
          { image: u.image, reason: u.reason, pinnedBy: u.pinnedBy },
          u.reason === 'missing'
            ? `image ${u.image} is in the catalog but not in this server's images directory: run statelesx image sync --from URL`
            : `image ${u.image} here has other files than the catalog's image of that name (published by another server): remove or rename one of them`,
        );
    }
    return last;
  };
  const tick = () => {
    running ??= runOnce()
      .catch((e: unknown) => {
        clog.error({ err: e }, 'image catalog pass failed');
        return last ?? { published: [], unavailable: [], at: Date.now() };
      })
      .finally(() => (running = undefined));
  };
  const stateOf = () => last;
  return {
    name: 'image-catalog',
    async start() {
      current.push(stateOf);
      await runOnce().catch((e: unknown) => clog.error({ err: e }, 'image catalog pass failed'));
      timer = setInterval(tick, intervalMs);
      timer.unref();
    },
    async close() {
      current = current.filter((s) => s !== stateOf);
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
    runOnce,
    state: () => last,
    readiness() {
      const bad = (last?.unavailable ?? []).filter((u) => u.pinnedBy.length > 0);
      if (bad.length === 0) return 'ok';
      return `pinned image(s) not served here: ${bad
        .map((u) => `${u.image} (${u.reason === 'missing' ? 'not in images-dir' : 'files differ from the catalog'})`)
        .join(', ')}`;
    },
  };
}
