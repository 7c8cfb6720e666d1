/** The chat side panel: conversations, model picker, streamed answers, the composer. */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ReactWidget, UseSignal } from '@jupyterlab/apputils';
import { addIcon, deleteIcon, refreshIcon, stopIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { ChatModel } from './chatmodel';
import { ChatMessage, Conversation, statsLine } from './conversation';
import { chatIcon, modelsIcon } from './icons';
import { CodeActions, Markdown } from './markdown';

export interface ChatPanelOptions {
  model: ChatModel;
  rendermime: IRenderMimeRegistry;
  actions: CodeActions;
  openModels: () => void;
}

export class ChatPanel extends ReactWidget {
  constructor(private readonly options: ChatPanelOptions) {
    super();
    this.id = 'mullama-chat';
    this.addClass('jp-mullama-chat-panel');
    // Inline, so the sidebar's layout reads it even before the stylesheet applies.
    this.node.style.minWidth = '340px';
    this.title.icon = chatIcon;
    this.title.caption = 'Mullama chat: local models';
  }

  get model(): ChatModel {
    return this.options.model;
  }

  /**
   * Put the cursor in the message box. Unless `force` (the user asked for the chat), only when nothing else
   * has the keyboard: restoring the layout on page load must not steal focus from the palette or a cell.
   */
  focusInput(force = false): void {
    requestAnimationFrame(() => {
      const active = document.activeElement;
      const idle = !active || active === document.body || active.closest('.lm-TabBar') !== null;
      if (force || idle || this.node.contains(active)) {
        this.node.querySelector<HTMLTextAreaElement>('.jp-mullama-input')?.focus();
      }
    });
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this.focusInput();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.model.models.refresh();
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed}>
        {() => <ChatView {...this.options} />}
      </UseSignal>
    );
  }
}

function ChatView(props: ChatPanelOptions): JSX.Element {
  const { model } = props;
  const conv = model.active;
  return (
    <div className="jp-mullama-chat">
      <ConversationBar model={model} />
      <ModelBar model={model} openModels={props.openModels} />
      <MessageList conversation={conv} {...props} />
      <Composer model={model} />
    </div>
  );
}

function ConversationBar({ model }: { model: ChatModel }): JSX.Element {
  const { conversations, activeId } = model.store;
  return (
    <div className="jp-mullama-bar jp-mullama-conversations">
      <select
        className="jp-mullama-select jp-mullama-conversation-select"
        aria-label="Conversation"
        value={activeId ?? ''}
        onChange={e => model.select(e.target.value)}
        disabled={conversations.length === 0}
      >
        {conversations.length === 0 && <option value="">New chat</option>}
        {conversations.map(c => (
          <option key={c.id} value={c.id}>
            {c.title}
          </option>
        ))}
      </select>
      <button className="jp-mullama-icon-button jp-mullama-new-chat" title="New chat" onClick={() => model.newChat()}>
        <addIcon.react tag="span" />
      </button>
      <button
        className="jp-mullama-icon-button jp-mullama-delete-chat"
        title="Delete this chat"
        disabled={!activeId}
        onClick={() => activeId && model.delete(activeId)}
      >
        <deleteIcon.react tag="span" />
      </button>
    </div>
  );
}

function ModelBar({ model, openModels }: { model: ChatModel; openModels: () => void }): JSX.Element {
  const names = model.models.names();
  const current = model.model;
  const missing = current && model.models.loaded && !names.includes(current);
  const loaded = model.models.models.find(m => m.name === current)?.loaded;
  return (
    <div className="jp-mullama-bar jp-mullama-modelbar">
      <span className={`jp-mullama-dot ${loaded ? 'jp-mod-loaded' : ''}`} title={loaded ? 'loaded' : 'not loaded yet'} />
      <select
        className="jp-mullama-select jp-mullama-model-select"
        aria-label="Model"
        value={current}
        onChange={e => model.setModel(e.target.value)}
      >
        {!current && <option value="">no local model</option>}
        {current && !names.includes(current) && (
          <option value={current}>{missing ? `${current} (not installed)` : current}</option>
        )}
        {names.map(n => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
      <button
        className="jp-mullama-icon-button"
        title="Reload the model list"
        onClick={() => void model.models.refresh()}
      >
        <refreshIcon.react tag="span" />
      </button>
      <button className="jp-mullama-icon-button" title="Models: pull, remove, inspect" onClick={openModels}>
        <modelsIcon.react tag="span" />
      </button>
    </div>
  );
}

function MessageList(props: ChatPanelOptions & { conversation: Conversation | null }): JSX.Element {
  const { conversation, model } = props;
  const scroller = React.useRef<HTMLDivElement>(null);
  const pinned = React.useRef(true);
  const last = conversation?.messages[conversation.messages.length - 1];

  // Follow the answer as it grows, unless the reader scrolled up to read something else.
  React.useLayoutEffect(() => {
    const el = scroller.current;
    if (el && pinned.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [last?.content, last?.thinking, last?.state, conversation?.id]);

  const retry = React.useCallback(() => void model.retry(), [model]);

  const onScroll = () => {
    const el = scroller.current;
    if (el) {
      pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    }
  };

  let body: JSX.Element;
  if (model.models.error) {
    body = (
      <div className="jp-mullama-empty jp-mullama-error">
        <p>{model.models.error}</p>
        <button className="jp-mullama-button" onClick={() => void model.models.refresh()}>
          Try again
        </button>
      </div>
    );
  } else if (!conversation || conversation.messages.length === 0) {
    body = <Welcome model={model} openModels={props.openModels} />;
  } else {
    body = (
      <>
        {conversation.messages.map((m, i) =>
          m.role === 'user' ? (
            <UserMessage key={m.id} message={m} />
          ) : (
            <AssistantMessage
              key={m.id}
              message={m}
              rendermime={props.rendermime}
              actions={props.actions}
              onRetry={i === conversation.messages.length - 1 ? retry : undefined}
            />
          )
        )}
      </>
    );
  }
  return (
    <div className="jp-mullama-messages" ref={scroller} onScroll={onScroll}>
      {body}
    </div>
  );
}

function Welcome({ model, openModels }: { model: ChatModel; openModels: () => void }): JSX.Element {
  if (model.models.loaded && model.models.models.length === 0) {
    return (
      <div className="jp-mullama-empty">
        <chatIcon.react tag="div" className="jp-mullama-empty-icon" />
        <p>No local models yet.</p>
        <p className="jp-mullama-hint">Pull one (for example smollm2:135m) to start chatting. It runs on this machine.</p>
        <button className="jp-mullama-button jp-mod-accept" onClick={openModels}>
          Open the Models panel
        </button>
      </div>
    );
  }
  return (
    <div className="jp-mullama-empty">
      <chatIcon.react tag="div" className="jp-mullama-empty-icon" />
      <p>Ask {model.model || 'a local model'} anything.</p>
      <p className="jp-mullama-hint">
        Answers are generated on this machine; nothing leaves it. Enter sends, Shift+Enter adds a line.
      </p>
    </div>
  );
}

// Messages are immutable: an unchanged message skips rendering while another one streams.
const UserMessage = React.memo(function UserMessage({ message }: { message: ChatMessage }): JSX.Element {
  return (
    <div className="jp-mullama-message jp-mullama-user" data-state={message.state}>
      {message.context && (
        <details className="jp-mullama-context">
          <summary title="Sent with this message">{message.context.label}</summary>
          <pre>{message.context.source}</pre>
        </details>
      )}
      <div className="jp-mullama-user-text">{message.content}</div>
    </div>
  );
});

const AssistantMessage = React.memo(function AssistantMessage(props: {
  message: ChatMessage;
  rendermime: IRenderMimeRegistry;
  actions: CodeActions;
  /** Given for the last answer only: ask its question again. */
  onRetry?: () => void;
}): JSX.Element {
  const { message } = props;
  const streaming = message.state === 'streaming';
  const waiting = streaming && !message.content && !message.thinking;
  return (
    <div className="jp-mullama-message jp-mullama-assistant" data-state={message.state}>
      <div className="jp-mullama-author">{message.model ?? 'assistant'}</div>
      {message.thinking && (
        <details className="jp-mullama-thinking" open={streaming && !message.content}>
          <summary>{streaming && !message.content ? 'Thinking…' : 'Thoughts'}</summary>
          <div className="jp-mullama-thinking-text">{message.thinking}</div>
        </details>
      )}
      {waiting && <div className="jp-mullama-waiting">Loading the model and reading the prompt…</div>}
      {message.content && (
        <Markdown source={message.content} rendermime={props.rendermime} actions={props.actions} streaming={streaming} />
      )}
      {streaming && message.content && <span className="jp-mullama-cursor" />}
      <Footer message={message} actions={props.actions} onRetry={props.onRetry} />
    </div>
  );
});

function Footer(props: { message: ChatMessage; actions: CodeActions; onRetry?: () => void }): JSX.Element | null {
  const { message, actions, onRetry } = props;
  const again = (label: string, title: string) =>
    onRetry && (
      <button className="jp-mullama-link-button jp-mullama-retry" title={title} onClick={onRetry}>
        {label}
      </button>
    );
  switch (message.state) {
    case 'done':
      return (
        <div className="jp-mullama-footer">
          <span
            className="jp-mullama-stats"
            title={message.stats?.doneReason === 'length' ? 'The answer reached the maximum tokens (Settings → Mullama)' : undefined}
          >
            {message.stats ? statsLine(message.stats) : ''}
          </span>
          <span className="jp-mullama-footer-actions">
            {again('Regenerate', 'Ask the same question again for another answer')}
            <button className="jp-mullama-link-button" title="Copy the answer as Markdown" onClick={() => actions.copy(message.content)}>
              Copy
            </button>
          </span>
        </div>
      );
    case 'stopped':
      return (
        <div className="jp-mullama-footer">
          <span className="jp-mullama-stopped">stopped</span>
          {again('Retry', 'Ask the same question again')}
        </div>
      );
    case 'error':
      return (
        <div className="jp-mullama-footer">
          <span className="jp-mullama-error" role="alert">
            {message.error}
          </span>
          {again('Retry', 'Ask the same question again')}
        </div>
      );
    default:
      return null;
  }
}

function Composer({ model }: { model: ChatModel }): JSX.Element {
  const [text, setText] = React.useState('');
  const input = React.useRef<HTMLTextAreaElement>(null);
  const streaming = model.streaming;

  // Grow with the text, up to a third of the panel.
  React.useLayoutEffect(() => {
    const el = input.current;
    if (el) {
      el.style.height = 'auto';
      el.style.height = `${Math.min(el.scrollHeight, 220)}px`;
    }
  }, [text]);

  const send = async () => {
    if (streaming || !text.trim()) {
      return;
    }
    const sent = await model.send(text);
    if (sent) {
      setText('');
    }
  };
  const onKeyDown = (e: React.KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    } else if (e.key === 'Escape' && streaming) {
      e.preventDefault();
      model.stop();
    }
  };
  const contextLabel = model.context?.describe() ?? null;
  return (
    <div className="jp-mullama-composer">
      {model.notice && (
        <div className="jp-mullama-notice" role="alert">
          {model.notice}
        </div>
      )}
      {model.context && (
        <label className="jp-mullama-include" title="Send the selection in the active cell, or the whole cell, with your message">
          <input
            type="checkbox"
            checked={model.includeContext}
            onChange={e => model.setIncludeContext(e.target.checked)}
          />
          <span>Include active cell / selection</span>
          {model.includeContext && (
            <span className="jp-mullama-chip">{contextLabel ?? 'no active notebook cell'}</span>
          )}
        </label>
      )}
      <div className="jp-mullama-input-row">
        <textarea
          ref={input}
          className="jp-mullama-input"
          rows={1}
          placeholder={model.model ? `Message ${model.model}` : 'Pull a model to start'}
          aria-label="Message"
          value={text}
          onChange={e => setText(e.target.value)}
          onKeyDown={onKeyDown}
        />
        {streaming ? (
          <button className="jp-mullama-send jp-mullama-stop" title="Stop (Escape)" onClick={() => model.stop()}>
            <stopIcon.react tag="span" />
            <span>Stop</span>
          </button>
        ) : (
          <button
            className="jp-mullama-send"
            title="Send (Enter)"
            disabled={!text.trim() || !model.model}
            onClick={() => void send()}
          >
            Send
          </button>
        )}
      </div>
    </div>
  );
}
