/** A rendered variant as the result cache keeps it: everything a 200 needs. */
export interface CachedVariant {
  body: Buffer;
  contentType: string;
  etag: string;
  lastModified: Date;
}
