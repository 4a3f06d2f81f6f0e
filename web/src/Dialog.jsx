import { useEffect, useId, useRef } from 'react';
import { createPortal } from 'react-dom';

/** A modal dialog: labelled by its title, Esc or the backdrop closes it, focus moves in and back. */
export function Dialog({ title, onClose, children, className = '' }) {
  const id = useId();
  const box = useRef(null);
  const close = useRef(onClose);
  close.current = onClose;

  useEffect(() => {
    const before = document.activeElement;
    const first = box.current?.querySelector('input, textarea, select, button:not([data-close])');
    (first ?? box.current)?.focus();
    const onKey = (e) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        close.current();
      }
    };
    window.addEventListener('keydown', onKey, true);
    return () => {
      window.removeEventListener('keydown', onKey, true);
      if (before instanceof HTMLElement && before.isConnected) before.focus();
    };
  }, []);

  return createPortal(
    <div className="dialog-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div ref={box} className={`card dialog ${className}`} role="dialog" aria-modal="true" aria-labelledby={id}
           tabIndex={-1}>
        <header className="dialog-header">
          <h2 id={id}>{title}</h2>
          <button type="button" className="icon" onClick={onClose} aria-label="Close" data-close>×</button>
        </header>
        {children}
      </div>
    </div>,
    document.body,
  );
}
