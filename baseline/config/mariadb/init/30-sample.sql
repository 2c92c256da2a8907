-- Small sample database so that backups and restores carry real data.
CREATE DATABASE IF NOT EXISTS appdb CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE appdb;
CREATE TABLE IF NOT EXISTS customers (
    id          INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(100) NOT NULL,
    email       VARCHAR(190) NOT NULL UNIQUE,
    created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS orders (
    id           INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id  INT UNSIGNED NOT NULL,
    item         VARCHAR(100) NOT NULL,
    amount_cents INT UNSIGNED NOT NULL,
    created_at   TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE=InnoDB;
INSERT IGNORE INTO customers (id, name, email) VALUES
    (1, 'Ada Lovelace',   'ada@example.com'),
    (2, 'Alan Turing',    'alan@example.com'),
    (3, 'Grace Hopper',   'grace@example.com');
INSERT IGNORE INTO orders (id, customer_id, item, amount_cents) VALUES
    (1, 1, 'GPU hours (100)',   250000),
    (2, 2, 'Vector index',       49900),
    (3, 3, 'Chat seats (25)',   125000),
    (4, 1, 'Support plan',       99000);
