import { LabIcon } from '@jupyterlab/ui-components';

// Drawn inline (no fetch); `jp-icon3` lets the theme pick the colour, as JupyterLab's own icons do.
const chatSvg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">
  <path class="jp-icon3" fill="#616161" d="M4 3h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9.4l-4.7 3.8A1 1 0 0 1 3 20v-3.2A2 2 0 0 1 2 15V5a2 2 0 0 1 2-2zm3 6.2a1.3 1.3 0 1 0 0 2.6 1.3 1.3 0 0 0 0-2.6zm5 0a1.3 1.3 0 1 0 0 2.6 1.3 1.3 0 0 0 0-2.6zm5 0a1.3 1.3 0 1 0 0 2.6 1.3 1.3 0 0 0 0-2.6z"/>
</svg>`;

const modelsSvg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">
  <path class="jp-icon3" fill="#616161" d="M12 2 3 6.5v11L12 22l9-4.5v-11L12 2zm0 2.2 6.6 3.3L12 10.8 5.4 7.5 12 4.2zM5 9.1l6 3v7.6l-6-3V9.1zm8 10.6v-7.6l6-3v7.6l-6 3z"/>
</svg>`;

export const chatIcon = new LabIcon({ name: 'mullama-jupyter:chat', svgstr: chatSvg });
export const modelsIcon = new LabIcon({ name: 'mullama-jupyter:models', svgstr: modelsSvg });
