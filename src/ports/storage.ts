// Port: where inputs come from and outputs go. Local: file paths and file:// URIs;
// aws: s3://bucket/key. Both read http(s):// inputs.

export interface StoreResult { uri: string; bytes: number }

export interface Storage {
  /** True when this adapter handles the URI (scheme check only). */
  handles(uri: string): boolean;
  /**
   * Make the input available as a local file. Local files are returned in place (no copy);
   * remote ones are downloaded into destDir. onBytes reports download progress.
   */
  fetch(uri: string, destDir: string, opts?: { signal?: AbortSignal; onBytes?: (done: number, total?: number) => void }): Promise<string>;
  /** Put a finished local file at uri atomically (temp name + rename, or completed upload). */
  store(localFile: string, uri: string, opts?: { overwrite?: boolean; signal?: AbortSignal }): Promise<StoreResult>;
  exists(uri: string): Promise<boolean>;
  remove(uri: string): Promise<void>;
}
