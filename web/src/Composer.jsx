import { useId, useRef, useState } from 'react';
import { sizeOf } from './format.js';

const MAX_FILES = 10;
const MAX_SUGGESTIONS = 8;

/** The `@word` being typed just before the caret: where it starts and what it says. */
function mentionAt(value, caret) {
  const found = value.slice(0, caret).match(/(^|\s)@([^\s@]*)$/);
  return found ? { start: caret - found[2].length - 1, end: caret, text: found[2].toLowerCase() } : null;
}

/** A member whose name (or a word of it) starts with what follows the `@`. */
const matches = (name, typed) => {
  const lower = name.toLowerCase();
  return lower.startsWith(typed) || lower.split(/\s+/).some((word) => word.startsWith(typed));
};

/**
 * Text + attachments. Enter sends, Shift+Enter is a new line. Typing `@` offers the
 * conversation's `people` ({id, name}); a chosen one is inserted as `@Name` and sent as a
 * mention (the API's `mentions`) while `@Name` is still in the text.
 */
export function Composer({ label, onSend, onTyping, disabled = false, people = [] }) {
  const [text, setText] = useState('');
  const [files, setFiles] = useState([]);
  const [mentioned, setMentioned] = useState({}); // user id -> the name inserted for them
  const [typed, setTyped] = useState(null); // the @word being typed, while it is
  const [highlight, setHighlight] = useState(0);
  const fileInput = useRef(null);
  const textarea = useRef(null);
  const id = useId();
  const suggestions = typed ? people.filter((p) => matches(p.name, typed.text)).slice(0, MAX_SUGGESTIONS) : [];

  const submit = (event) => {
    event?.preventDefault();
    if (disabled || (!text.trim() && !files.length)) return;
    const mentions = Object.entries(mentioned).filter(([, name]) => text.includes(`@${name}`)).map(([uid]) => uid);
    onSend(text, files, mentions);
    setText('');
    setFiles([]);
    setMentioned({});
    setTyped(null);
    if (fileInput.current) fileInput.current.value = '';
  };

  const choose = (person) => {
    const before = `${text.slice(0, typed.start)}@${person.name} `;
    const next = before + text.slice(typed.end);
    setText(next);
    setMentioned((known) => ({ ...known, [person.id]: person.name }));
    setTyped(null);
    requestAnimationFrame(() => {
      const box = textarea.current;
      if (!box) return;
      box.focus();
      // the caret after the name, unless typing went on before this frame (it would jump back)
      if (box.value === next) box.setSelectionRange(before.length, before.length);
    });
  };

  const onKeyDown = (e) => {
    if (suggestions.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const step = e.key === 'ArrowDown' ? 1 : -1;
        setHighlight((h) => (h + step + suggestions.length) % suggestions.length);
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        choose(suggestions[Math.min(highlight, suggestions.length - 1)]);
        return;
      }
      if (e.key === 'Escape') {
        setTyped(null);
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) submit(e);
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
      {suggestions.length > 0 && (
        <ul className="mention-suggestions" role="listbox" id={`${id}-mentions`} aria-label="Mention suggestions">
          {suggestions.map((p, i) => (
            <li key={p.id} role="option" aria-selected={i === highlight} className={i === highlight ? 'active' : ''}
                onMouseDown={(e) => { e.preventDefault(); choose(p); }}>@{p.name}</li>
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
        <textarea id={id} ref={textarea} rows={1} value={text} placeholder={`${label}…`} disabled={disabled}
                  maxLength={4000} aria-autocomplete="list"
                  aria-controls={suggestions.length ? `${id}-mentions` : undefined}
                  onChange={(e) => {
                    setText(e.target.value);
                    setTyped(mentionAt(e.target.value, e.target.selectionStart ?? e.target.value.length));
                    setHighlight(0);
                    if (e.target.value) onTyping?.();
                  }}
                  onKeyDown={onKeyDown} />
        <button type="submit" className="primary" disabled={disabled || (!text.trim() && !files.length)}>Send</button>
      </div>
    </form>
  );
}
