/**
 * mullama-jupyter's JupyterLab front end: a chat panel (right) and a models panel (left) talking to the
 * server extension under `{base_url}mullama/`.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Clipboard, ICommandPalette, Notification } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { ReadonlyPartialJSONValue } from '@lumino/coreutils';

import { MullamaApi } from './api';
import { ChatPanel } from './chat';
import { ChatModel, ChatSettings, DEFAULT_SETTINGS } from './chatmodel';
import { ChatSocket } from './chatsocket';
import { CodeActions } from './markdown';
import { ModelsPanel } from './models';
import { ModelsModel } from './modelsmodel';
import { NotebookContext } from './notebookcontext';

const PLUGIN_ID = 'mullama-jupyter:plugin';
/** Conversations live in the workspace (server side), so they survive reloads and follow the workspace. */
const STATE_KEY = 'mullama-jupyter:conversations';

export namespace CommandIDs {
  export const openChat = 'mullama:open-chat';
  export const openModels = 'mullama:open-models';
  export const newChat = 'mullama:new-chat';
  export const stop = 'mullama:stop';
}

function readSettings(settings: ISettingRegistry.ISettings): ChatSettings {
  const c = settings.composite as Partial<ChatSettings>;
  return {
    defaultModel: typeof c.defaultModel === 'string' ? c.defaultModel.trim() : DEFAULT_SETTINGS.defaultModel,
    temperature: typeof c.temperature === 'number' ? c.temperature : DEFAULT_SETTINGS.temperature,
    maxTokens: typeof c.maxTokens === 'number' ? c.maxTokens : DEFAULT_SETTINGS.maxTokens,
    systemPrompt: typeof c.systemPrompt === 'string' ? c.systemPrompt : DEFAULT_SETTINGS.systemPrompt,
    think: c.think === true,
    includeContext: c.includeContext === true
  };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Chat with local models and manage them (mullama-jupyter).',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [ICommandPalette, ILayoutRestorer, ISettingRegistry, IStateDB, INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    state: IStateDB | null,
    notebooks: INotebookTracker | null
  ) => {
    const api = new MullamaApi();
    const models = new ModelsModel(api);
    const socket = new ChatSocket(() => api.socketUrl());
    const context = notebooks ? new NotebookContext(notebooks) : null;
    const persist = state
      ? (store: unknown) => state.save(STATE_KEY, store as ReadonlyPartialJSONValue).then(() => undefined)
      : null;
    const chat = new ChatModel(socket, models, persist, context);

    const actions: CodeActions = {
      copy: code => Clipboard.copyToSystem(code),
      insert: code => {
        if (!context?.insert(code)) {
          Notification.warning('Open a notebook to insert code into it.', { autoClose: 4000 });
          return;
        }
        if (notebooks?.currentWidget) {
          app.shell.activateById(notebooks.currentWidget.id);
        }
      }
    };

    const chatPanel = new ChatPanel({
      model: chat,
      rendermime,
      actions,
      openModels: () => app.commands.execute(CommandIDs.openModels)
    });
    const modelsPanel = new ModelsPanel(models, name => {
      chat.chatWith(name);
      void app.commands.execute(CommandIDs.openChat);
    });
    app.shell.add(chatPanel, 'right', { rank: 900 });
    app.shell.add(modelsPanel, 'left', { rank: 900 });
    if (restorer) {
      restorer.add(chatPanel, chatPanel.id);
      restorer.add(modelsPanel, modelsPanel.id);
    }

    app.commands.addCommand(CommandIDs.openChat, {
      label: 'Open Chat',
      caption: 'Chat with a local model',
      icon: args => (args.isPalette ? undefined : chatPanel.title.icon),
      execute: () => {
        app.shell.activateById(chatPanel.id);
        chatPanel.focusInput(true);
      }
    });
    app.commands.addCommand(CommandIDs.openModels, {
      label: 'Open Models',
      caption: 'Pull, remove and inspect local models',
      execute: () => app.shell.activateById(modelsPanel.id)
    });
    app.commands.addCommand(CommandIDs.newChat, {
      label: 'New Chat',
      caption: 'Start a new conversation',
      execute: () => {
        chat.newChat();
        app.shell.activateById(chatPanel.id);
        chatPanel.focusInput(true);
      }
    });
    app.commands.addCommand(CommandIDs.stop, {
      label: 'Stop the Answer',
      caption: 'Stop the answer streaming in the chat panel (nothing happens when none is)',
      execute: () => chat.stop()
    });
    if (palette) {
      for (const command of Object.values(CommandIDs)) {
        palette.addItem({ command, category: 'Mullama' });
      }
    }

    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          chat.updateSettings(readSettings(settings));
          settings.changed.connect(() => chat.updateSettings(readSettings(settings)));
        })
        .catch(e => console.warn('mullama: could not read the settings, using the defaults:', e));
    }

    void app.restored.then(async () => {
      if (state) {
        try {
          chat.restore(await state.fetch(STATE_KEY));
        } catch (e) {
          console.warn('mullama: could not read the saved conversations:', e);
        }
      }
      await models.refresh();
    });
  }
};

export default plugin;
