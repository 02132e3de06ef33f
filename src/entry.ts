import { installFatal } from './fatal.js';
import { main } from './main.js';

installFatal();
void main();
