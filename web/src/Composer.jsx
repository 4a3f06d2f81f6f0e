import { useId, useRef, useState } from 'react';
import { sizeOf } from './format.js';

const MAX_FILES = 10;

/** Text + attachments. Enter sends, Shift+Enter is a new line. */
export function Composer({ label, onSend, onTyping, disabled = false }) {
  const [text, setText] = useState('');
  const [files, setFiles] = useState([]);
  const fileInput = useRef(null);
  const id = useId();

  const submit = (event) => {
    event?.preventDefault();
    if (disabled || (!text.trim() && !files.length)) return;
    onSend(text, files);
    setText('');
    setFiles([]);
    if (fileInput.current) fileInput.current.value = '';
  };

  return (
    <form className="composer" onSubmit={submit}>
      {files.length > 0 && (
        <ul className="chosen-files" aria-label="Files to send">
          {files.map((f, i) => (
            <li key={f.name + i}>
              {f.type.startsWith('image/') && <img src={URL.createObjectURL(f)} alt="" className="thumb" />}
              {f.name} ({sizeOf(f.size)})
              <button type="button" className="icon" aria-label={`Remove ${f.name}`}
                      onClick={() => setFiles((list) => list.filter((_, j) => j !== i))}>×</button>
            </li>
          ))}
        </ul>
      )}
      <div className="composer-row">
        <label className="icon attach" title="Attach files">
          <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M21 11.5l-8.6 8.6a5 5 0 0 1-7.1-7.1l8.6-8.6a3.3 3.3 0 0 1 4.7 4.7l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9" /></svg>
          <span className="sr-only">Attach files</span>
          <input ref={fileInput} type="file" multiple className="sr-only" disabled={disabled}
                 onChange={(e) => setFiles((list) => [...list, ...Array.from(e.target.files)].slice(0, MAX_FILES))} />
        </label>
        <label htmlFor={id} className="sr-only">{label}</label>
        <textarea id={id} rows={1} value={text} placeholder={`${label}…`} disabled={disabled} maxLength={4000}
                  onChange={(e) => {
                    setText(e.target.value);
                    if (e.target.value) onTyping?.();
                  }}
                  onKeyDown={(e) => {
                    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) submit(e);
                  }} />
        <button type="submit" className="primary" disabled={disabled || (!text.trim() && !files.length)}>Send</button>
      </div>
    </form>
  );
}
