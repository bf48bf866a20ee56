/**
 * Media in memory: upload (`/_matrix/media/v3/upload`, and `create` + PUT for MSC2246 style
 * async uploads is left out), the authenticated download of client-server v1.11
 * (`/_matrix/client/v1/media/download`), the older unauthenticated download bridges still use,
 * thumbnails served as the original, and the upload limit under `config`.
 */
import type Router from '@koa/router';
import { MatrixError, type AppserviceContext, type AppserviceState } from '../../../lib/index.ts';
import type { HomeserverData } from '../data.ts';
import { param, requester, type Ctx } from '../http.ts';

/** Uploads are held in memory: keep each one small, and the whole store bounded. */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
const MAX_STORED_BYTES = 256 * 1024 * 1024;

interface Media {
  readonly bytes: Buffer;
  readonly contentType: string;
  readonly fileName?: string;
}

/**
 * @example
 * mediaRoutes(router, data);
 */
export function mediaRoutes(router: Router<AppserviceState, AppserviceContext>, data: HomeserverData): void {
  const media = new Map<string, Media>();
  let stored = 0;

  router.post(['/_matrix/media/v3/upload', '/_matrix/media/r0/upload'], async (c) => {
    const ctx = c as Ctx;
    requester(ctx, data);
    const declared = Number(ctx.get('content-length') || 0);
    if (declared > MAX_UPLOAD_BYTES) throw new MatrixError(413, 'M_TOO_LARGE', 'Upload too large');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_UPLOAD_BYTES) throw new MatrixError(413, 'M_TOO_LARGE', 'Upload too large');
      chunks.push(chunk);
    }
    if (stored + size > MAX_STORED_BYTES)
      throw new MatrixError(403, 'M_RESOURCE_LIMIT_EXCEEDED', 'The in-memory media store is full', {
        limit_type: 'media',
      });
    const mediaId = data.newId('', 18);
    const fileName = typeof ctx.query.filename === 'string' ? ctx.query.filename : undefined;
    media.set(mediaId, {
      bytes: Buffer.concat(chunks),
      contentType: ctx.get('content-type') || 'application/octet-stream',
      ...(fileName === undefined ? {} : { fileName }),
    });
    stored += size;
    ctx.body = { content_uri: `mxc://${data.serverName}/${mediaId}` };
  });

  function serveMedia(ctx: Ctx): void {
    if (param(ctx, 'serverName') !== data.serverName)
      throw new MatrixError(404, 'M_NOT_FOUND', 'Not found (no federation here)');
    const item = media.get(param(ctx, 'mediaId'));
    if (item === undefined) throw new MatrixError(404, 'M_NOT_FOUND', 'Not found');
    const fileName = ctx.params.fileName ?? item.fileName;
    ctx.type = item.contentType;
    // Uploaded bytes are served as they are: never let a browser run them as this origin's page.
    ctx.set('Content-Security-Policy', "sandbox; default-src 'none';");
    ctx.set(
      'Content-Disposition',
      `attachment${fileName === undefined ? '' : `; filename*=utf-8''${encodeURIComponent(fileName)}`}`,
    );
    ctx.body = item.bytes;
  }

  const authenticated = [
    '/_matrix/client/v1/media/download/:serverName/:mediaId',
    '/_matrix/client/v1/media/download/:serverName/:mediaId/:fileName',
    '/_matrix/client/v1/media/thumbnail/:serverName/:mediaId',
  ];
  router.get(authenticated, (c) => {
    const ctx = c as Ctx;
    requester(ctx, data);
    serveMedia(ctx);
  });

  const legacy = ['v3', 'r0'].flatMap((v) => [
    `/_matrix/media/${v}/download/:serverName/:mediaId`,
    `/_matrix/media/${v}/download/:serverName/:mediaId/:fileName`,
    `/_matrix/media/${v}/thumbnail/:serverName/:mediaId`,
  ]);
  router.get(legacy, (c) => serveMedia(c as Ctx));

  router.get(['/_matrix/client/v1/media/config', '/_matrix/media/v3/config', '/_matrix/media/r0/config'], (c) => {
    const ctx = c as Ctx;
    requester(ctx, data);
    ctx.body = { 'm.upload.size': MAX_UPLOAD_BYTES };
  });
}
