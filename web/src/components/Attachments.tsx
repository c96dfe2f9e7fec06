/** A task's files: upload with progress (XHR reports it, fetch does not), image previews. */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { api, describe } from "../api/client";
import { keys, useAttachments } from "../api/queries";
import { loadSession } from "../api/session";
import type { Attachment } from "../api/types";
import { toast } from "./toast";

function upload(taskRef: string, file: File, onProgress: (fraction: number) => void): Promise<Attachment> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/tasks/${taskRef}/attachments`);
    const token = loadSession()?.access_token;
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as Attachment);
      else reject(new Error((body as { detail?: string } | null)?.detail ?? `upload failed (${xhr.status})`));
    };
    xhr.onerror = () => reject(new Error("the upload was interrupted"));
    const form = new FormData();
    form.append("file", file);
    xhr.send(form);
  });
}

/** An authenticated image as an object URL (an <img src> cannot send the bearer token). */
function useBlobUrl(path: string | null): string | null {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!path) return;
    let revoked = false;
    let made: string | null = null;
    const token = loadSession()?.access_token;
    fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} })
      .then((r) => (r.ok ? r.blob() : null))
      .then((blob) => {
        if (blob && !revoked) {
          made = URL.createObjectURL(blob);
          setUrl(made);
        }
      })
      .catch(() => undefined);
    return () => {
      revoked = true;
      if (made) URL.revokeObjectURL(made);
    };
  }, [path]);
  return url;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function AttachmentItem({ a, onDelete }: { a: Attachment; onDelete: () => void }) {
  const thumb = useBlobUrl(a.has_thumbnail ? `/api/v1/attachments/${a.id}/thumbnail` : null);
  async function download() {
    const token = loadSession()?.access_token;
    const r = await fetch(`/api/v1/attachments/${a.id}/content`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    if (!r.ok) return toast("error", "Download failed", r.statusText);
    const url = URL.createObjectURL(await r.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = a.filename;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
  return (
    <li className="attachment">
      {thumb ? <img src={thumb} alt={a.filename} className="thumb" /> : <span className="thumb thumb-file">{a.filename.split(".").pop()?.slice(0, 4)}</span>}
      <span className="attachment-name">
        <button className="link" onClick={() => void download()}>{a.filename}</button>
        <span className="muted small">{size(a.size)}</span>
      </span>
      <button className="icon-btn" aria-label={`Delete ${a.filename}`} onClick={onDelete}>×</button>
    </li>
  );
}

export function Attachments({ taskRef }: { taskRef: string }) {
  const queryClient = useQueryClient();
  const list = useAttachments(taskRef);
  const input = useRef<HTMLInputElement>(null);
  const [uploads, setUploads] = useState<{ name: string; progress: number }[]>([]);

  async function add(files: FileList | null) {
    for (const file of Array.from(files ?? [])) {
      setUploads((u) => [...u, { name: file.name, progress: 0 }]);
      try {
        await upload(taskRef, file, (p) => setUploads((u) => u.map((x) => (x.name === file.name ? { ...x, progress: p } : x))));
        void queryClient.invalidateQueries({ queryKey: keys.attachments(taskRef) });
      } catch (error) {
        toast("error", `${file.name} was not uploaded`, describe(error));
      } finally {
        setUploads((u) => u.filter((x) => x.name !== file.name));
      }
    }
  }

  async function remove(a: Attachment) {
    try {
      await api(`/api/v1/attachments/${a.id}`, { method: "DELETE" });
      void queryClient.invalidateQueries({ queryKey: keys.attachments(taskRef) });
    } catch (error) {
      toast("error", "Not deleted", describe(error));
    }
  }

  return (
    <section
      className="section"
      aria-label="Attachments"
      onDragOver={(e) => e.preventDefault()}
      onDrop={(e) => {
        e.preventDefault();
        void add(e.dataTransfer.files);
      }}
    >
      <h3>
        Attachments
        <button className="btn btn-small" onClick={() => input.current?.click()}>Upload</button>
        <input ref={input} type="file" multiple hidden aria-label="Upload files" onChange={(e) => void add(e.target.files)} />
      </h3>
      <ul className="attachments">
        {list.data?.map((a) => <AttachmentItem key={a.id} a={a} onDelete={() => void remove(a)} />)}
        {uploads.map((u) => (
          <li key={u.name} className="attachment uploading">
            <span className="thumb thumb-file">…</span>
            <span className="attachment-name">
              {u.name}
              <progress max={1} value={u.progress} aria-label={`Uploading ${u.name}`} />
            </span>
          </li>
        ))}
      </ul>
      {list.data?.length === 0 && uploads.length === 0 && <p className="muted small">Drop files here or use Upload.</p>}
    </section>
  );
}
