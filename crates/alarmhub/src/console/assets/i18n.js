/* i18n.js */
